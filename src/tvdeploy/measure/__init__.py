"""Stage measure: the benchmark protocol, the interleaved comparison of deployments in worker
processes, paired ratios, the machine's arithmetic peak and operator profiles."""
