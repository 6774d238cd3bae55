"""Loading, chunking, embedding and storing documents. Knows nothing of questions or UIs."""
