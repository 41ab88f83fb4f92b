# Written by paper_tables --plot; run in this directory: gnuplot paper_figures.gp
set terminal svg size 1200,420 dynamic font 'sans,12'
set datafile commentschars '#'
set xlabel 'round'
set ylabel 'test accuracy (%)'
set key bottom right
set grid
set xtics 1
set output 'fig2_samples.svg'
set multiplot layout 1,3 title 'Accuracy per round by sample count (seed 73, 10 clients, 3 local epochs, sigmoid paper-deg3[-5,5])'
set title '1000 samples, 5 features'
plot 'paper_m1000_n5.dat' using 1:2 with linespoints title 'central', 'paper_m1000_n5.dat' using 1:3 with linespoints title 'FL', 'paper_m1000_n5.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m1000_n5.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m1000_n5.dat' using 1:6 with linespoints title 'FL-FHE'
set title '5000 samples, 5 features'
plot 'paper_m5000_n5.dat' using 1:2 with linespoints title 'central', 'paper_m5000_n5.dat' using 1:3 with linespoints title 'FL', 'paper_m5000_n5.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m5000_n5.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m5000_n5.dat' using 1:6 with linespoints title 'FL-FHE'
set title '10000 samples, 5 features'
plot 'paper_m10000_n5.dat' using 1:2 with linespoints title 'central', 'paper_m10000_n5.dat' using 1:3 with linespoints title 'FL', 'paper_m10000_n5.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m10000_n5.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m10000_n5.dat' using 1:6 with linespoints title 'FL-FHE'
unset multiplot
set output 'fig3_features.svg'
set multiplot layout 1,3 title 'Accuracy per round by feature count (seed 73, 10 clients, 3 local epochs, sigmoid paper-deg3[-5,5])'
set title '10000 samples, 2 features'
plot 'paper_m10000_n2.dat' using 1:2 with linespoints title 'central', 'paper_m10000_n2.dat' using 1:3 with linespoints title 'FL', 'paper_m10000_n2.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m10000_n2.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m10000_n2.dat' using 1:6 with linespoints title 'FL-FHE'
set title '10000 samples, 3 features'
plot 'paper_m10000_n3.dat' using 1:2 with linespoints title 'central', 'paper_m10000_n3.dat' using 1:3 with linespoints title 'FL', 'paper_m10000_n3.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m10000_n3.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m10000_n3.dat' using 1:6 with linespoints title 'FL-FHE'
set title '10000 samples, 5 features'
plot 'paper_m10000_n5.dat' using 1:2 with linespoints title 'central', 'paper_m10000_n5.dat' using 1:3 with linespoints title 'FL', 'paper_m10000_n5.dat' using 1:4 with linespoints title 'FL-poly', 'paper_m10000_n5.dat' using 1:5 with linespoints title 'FL-CKKS', 'paper_m10000_n5.dat' using 1:6 with linespoints title 'FL-FHE'
unset multiplot
