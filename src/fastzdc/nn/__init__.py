"""Network building blocks (no files, no CLI): UNets, embeddings."""
