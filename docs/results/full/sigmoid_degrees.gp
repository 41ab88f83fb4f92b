# Written by sigmoid_degrees --plot; run in this directory: gnuplot sigmoid_degrees.gp
set datafile missing '?'
set grid
set key top left
set terminal svg size 1200,900 dynamic font 'sans,11'
set output 'sigmoid_approximations.svg'
set multiplot layout 2,2 title 'Sigmoid approximations on [-8, 8] against the true sigmoid (dashed: interval ends)'
set xlabel 'z'
set ylabel 'value'
set yrange [-0.3:1.3]
set arrow 1 from -8,-0.3 to -8,1.3 nohead dt 2
set arrow 2 from 8,-0.3 to 8,1.3 nohead dt 2
set title 'taylor'
plot 'curves_taylor.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'sigmoid', '' using 1:3 with lines title 'degree 3', '' using 1:4 with lines title 'degree 5', '' using 1:5 with lines title 'degree 7', '' using 1:6 with lines title 'degree 9', '' using 1:7 with lines title 'degree 15'
set title 'least-squares'
plot 'curves_least-squares.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'sigmoid', '' using 1:3 with lines title 'degree 3', '' using 1:4 with lines title 'degree 5', '' using 1:5 with lines title 'degree 7', '' using 1:6 with lines title 'degree 9', '' using 1:7 with lines title 'degree 15'
set title 'chebyshev'
plot 'curves_chebyshev.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'sigmoid', '' using 1:3 with lines title 'degree 3', '' using 1:4 with lines title 'degree 5', '' using 1:5 with lines title 'degree 7', '' using 1:6 with lines title 'degree 9', '' using 1:7 with lines title 'degree 15'
set title 'minimax'
plot 'curves_minimax.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'sigmoid', '' using 1:3 with lines title 'degree 3', '' using 1:4 with lines title 'degree 5', '' using 1:5 with lines title 'degree 7', '' using 1:6 with lines title 'degree 9', '' using 1:7 with lines title 'degree 15'
unset multiplot
unset arrow 1
unset arrow 2
set autoscale y
set terminal svg size 800,500 dynamic font 'sans,12'
set xlabel 'degree'
set key top right
set output 'sigmoid_ckks_error.svg'
set logscale y
set format y '10^{%L}'
set ylabel 'max |result - sigmoid|'
set title 'Error after CKKS (N = 16384, scale 2^{40}; solid) and fit error (dashed), R = 8'
plot 'degrees_taylor.dat' using 1:3 with linespoints lc 1 title 'taylor', '' using 1:2 with lines dt 2 lc 1 notitle, 'degrees_least-squares.dat' using 1:3 with linespoints lc 2 title 'least-squares', '' using 1:2 with lines dt 2 lc 2 notitle, 'degrees_chebyshev.dat' using 1:3 with linespoints lc 3 title 'chebyshev', '' using 1:2 with lines dt 2 lc 3 notitle, 'degrees_minimax.dat' using 1:3 with linespoints lc 4 title 'minimax', '' using 1:2 with lines dt 2 lc 4 notitle
unset logscale y
set format y '%g'
set output 'sigmoid_eval_ms.svg'
set ylabel 'ms'
set key top left
set title 'One CKKS evaluation of the sigmoid on 1024 slots (ms, shared machine), R = 8'
plot 'degrees_taylor.dat' using 1:4 with linespoints title 'taylor', 'degrees_least-squares.dat' using 1:4 with linespoints title 'least-squares', 'degrees_chebyshev.dat' using 1:4 with linespoints title 'chebyshev', 'degrees_minimax.dat' using 1:4 with linespoints title 'minimax'
set terminal svg size 1200,450 dynamic font 'sans,11'
set output 'sigmoid_accuracy.svg'
set multiplot layout 1,3 title 'Test accuracy after federated training, R = 8 (5 rounds x 3 local epochs): FL + FHE solid where it ran, plaintext with the same polynomial dashed'
set ylabel 'accuracy (%)'
set key bottom right
set title 'paper-10000x5'
plot 'degrees_taylor.dat' using 1:6 with linespoints lc 1 title 'taylor', '' using 1:5 with lines dt 2 lc 1 notitle, 'degrees_least-squares.dat' using 1:6 with linespoints lc 2 title 'least-squares', '' using 1:5 with lines dt 2 lc 2 notitle, 'degrees_chebyshev.dat' using 1:6 with linespoints lc 3 title 'chebyshev', '' using 1:5 with lines dt 2 lc 3 notitle, 'degrees_minimax.dat' using 1:6 with linespoints lc 4 title 'minimax', '' using 1:5 with lines dt 2 lc 4 notitle
set title 'synthetic-hard'
plot 'degrees_taylor.dat' using 1:8 with linespoints lc 1 title 'taylor', '' using 1:7 with lines dt 2 lc 1 notitle, 'degrees_least-squares.dat' using 1:8 with linespoints lc 2 title 'least-squares', '' using 1:7 with lines dt 2 lc 2 notitle, 'degrees_chebyshev.dat' using 1:8 with linespoints lc 3 title 'chebyshev', '' using 1:7 with lines dt 2 lc 3 notitle, 'degrees_minimax.dat' using 1:8 with linespoints lc 4 title 'minimax', '' using 1:7 with lines dt 2 lc 4 notitle
set title 'pima'
plot 'degrees_taylor.dat' using 1:10 with linespoints lc 1 title 'taylor', '' using 1:9 with lines dt 2 lc 1 notitle, 'degrees_least-squares.dat' using 1:10 with linespoints lc 2 title 'least-squares', '' using 1:9 with lines dt 2 lc 2 notitle, 'degrees_chebyshev.dat' using 1:10 with linespoints lc 3 title 'chebyshev', '' using 1:9 with lines dt 2 lc 3 notitle, 'degrees_minimax.dat' using 1:10 with linespoints lc 4 title 'minimax', '' using 1:9 with lines dt 2 lc 4 notitle
unset multiplot
