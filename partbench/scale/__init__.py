"""Running at scale: process groups (`torchrun`), independent shards, and job arrays through submitit."""
