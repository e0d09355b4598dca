"""Many runs: plans, grids, suites, sweeps and their workers."""
