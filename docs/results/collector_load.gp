# Written by benchmarks/collector_load (load average before the run: 12.18 11.85 11.90).
# Time until every device's record is acknowledged (validated and durably stored), and p50 / p99
# latency per device, against simultaneous devices; the paper's figures (seed 003) for reference.
set terminal svg size 760,480 font 'sans,12'
set output 'docs/results/collector_load.svg'
set logscale xy
set xlabel 'simultaneous devices (fresh mTLS connection each)'
set ylabel 'seconds'
set key left top
set grid
set xrange [5:2000]
$m0 << EOD
10 0.399115 0.387412 0.394209
100 1.5095 1.20687 1.48155
1000 15.3213 9.63962 14.8724
EOD
$m1 << EOD
10 5.07337 5.02671 5.05908
100 5.07112 5.03222 5.04681
1000 15.0522 9.78577 14.8927
EOD
$paper << EOD
10 5.72
100 10.81
1000 30.25
EOD
plot $paper using 1:2 with linespoints lw 2 dt 2 title 'paper (Ethereum PoA, 5 s blocks): all answered', \
  $m0 using 1:2 with linespoints lw 2 title 'fresh: all acknowledged', \
  $m0 using 1:3 with points pt 7 title 'fresh: p50 latency', \
  $m0 using 1:4 with points pt 5 title 'fresh: p99 latency', \
  $m1 using 1:2 with linespoints lw 2 title 'fresh-seal5: all acknowledged', \
  $m1 using 1:3 with points pt 7 title 'fresh-seal5: p50 latency', \
  $m1 using 1:4 with points pt 5 title 'fresh-seal5: p99 latency'
