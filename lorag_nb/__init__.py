"""lorag_nb: measure full fine-tuning, LoRA, RAG and LoRA+RAG on a real small model."""
__version__ = "0.1.0"
