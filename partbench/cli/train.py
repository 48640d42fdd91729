"""`partbench train`: training commands for our own methods (PartConcepts)."""
