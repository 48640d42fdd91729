"""What a run leaves on disk: the run folder with its cache keys (`run_dir`), and atomic writes (`atomic`)."""
