# Number helpers for the bench scripts (sourced by lib.sh, and alone by scripts with a harness of
# their own such as run-pod-network.sh).
# to_ms TOKEN: a wrk latency ("512.00us", "1.20ms", "2.01s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN{ n=v; u=v; sub(/[a-z]+$/,"",n); sub(/^[0-9.]+/,"",u); f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:1; printf "%.3f", n*f }'; }
# CPU time (user + system, in clock ticks) the processes in $1 (PIDs, space-separated) have used so far.
cputicks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
TCK=$(getconf CLK_TCK)
# median: of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END{ if(NR%2) print a[(NR+1)/2]; else printf "%.3f\n",(a[NR/2]+a[NR/2+1])/2 }'; }
