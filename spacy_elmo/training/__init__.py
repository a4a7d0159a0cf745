"""biLM pretraining: vocabulary, streamed batches, softmax heads, the training
loop and checkpoints. Pure torch (no spaCy/thinc imports outside settings)."""
