"""NLP engines for Presidio: name-aware jieba segmentation for Chinese, spaCy for English."""
