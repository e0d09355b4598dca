"""What a run leaves on disk: results, checkpoints, frames, the run directory."""
