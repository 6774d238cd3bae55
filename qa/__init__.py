"""Questions in, answers with verified citations out."""
