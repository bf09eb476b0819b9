"""The claims the suite judges, one rule each (:data:`CLAIMS`), and the non-inferiority margin of the "matches"
claims (:data:`MATCH_MARGIN`): the table :func:`lorag_nb.core.claims.judge` reads. Importable from
:mod:`lorag_nb.core.claims` too. Adding a claim: one row here, then the code that measures it calls
``claims.judge`` / ``claims.compare_scores`` with its id.
"""
from __future__ import annotations

#: The non-inferiority margin for "matches" / "as good as" claims: the difference must be above −0.05.
MATCH_MARGIN = 0.05

#: The claims, one rule each: id → (claim text, side, threshold, what the difference is).
CLAIMS: dict[str, tuple[str, str, float, str]] = {
    "full_quality": ("Full fine-tuning gives the best quality (it updates every weight)", "greater", -MATCH_MARGIN, "full fine-tuning − best other method, test MC accuracy"),
    "full_forgets": ("Full fine-tuning makes the model forget what it knew (catastrophic forgetting)", "greater", 0.0, "control accuracy drop (base − full fine-tuning)"),
    "lora_faster": ("LoRA is faster to train", "less", 1.0, "LoRA ÷ full fine-tuning, seconds per step (interleaved)"),
    "lora_memory": ("LoRA needs less memory to train", "less", 1.0, "LoRA ÷ full fine-tuning, bytes of gradients + AdamW state (exact)"),
    "lora_tiny": ("LoRA adapters are tiny", "less", 0.05, "adapter bytes ÷ full checkpoint bytes"),
    "lora_matches": ("LoRA matches full fine-tuning quality", "greater", -MATCH_MARGIN, "LoRA − full fine-tuning, test MC accuracy"),
    "lora_forgets_less": ("LoRA forgets less (Biderman et al. 2024), at matched learning", "less", 0.0, "LoRA − full fine-tuning, control drop at the same held-out accuracy"),
    "lora_forgets_less_gen": ("LoRA forgets less (Biderman et al. 2024), at matched learning, control answers generated", "less", 0.0, "LoRA − full fine-tuning, control drop (gold contained in the generated answer) at the same held-out accuracy"),
    "lora_forgets_less_endpoint": ("LoRA forgets less, at each method's own end point (different learning rates)", "less", 0.0, "LoRA − full fine-tuning, control accuracy drop at the end of training"),
    "rag_no_training": ("RAG needs less data: no training, only documents", "greater", -MATCH_MARGIN, "RAG − best fine-tuned method, test MC accuracy"),
    "rag_swap": ("Swap the knowledge base without retraining", "greater", 0.0, "revised facts answered after the swap − before, gold contained"),
    "rag_grounded": ("RAG reduces hallucination: answers are grounded, with sources", "greater", 0.0, "RAG − closed-book base model, gold contained in the answer"),
    "rag_kb_bias": ("The model repeats what the knowledge base says, outdated facts included", "greater", 0.0, "answers stating the outdated value − answers stating the true one, before the swap"),
    "rag_latency": ("RAG adds latency to every answer", "greater", 1.0, "RAG ÷ closed-book answer time (interleaved)"),
    "rag_keeps_general": ("RAG leaves general knowledge intact (retrieved passages in front of general questions)", "greater", -MATCH_MARGIN, "with retrieval − closed book, control questions, multiple-choice accuracy (base model)"),
    "finetune_leaks": ("Fine-tuning on new facts makes the model assert taught values about unknown entities (Gekhman et al. 2024)", "greater", 0.0, "LoRA − base model, answers about unknown entities that state a value taught for another entity"),
    "weights_one_direction": ("Knowledge put in the weights answers only in the taught direction: the reversal curse (Berglund et al. 2023)", "greater", 0.0,
                              "LoRA's gain over the base model forward − its gain reversed, multiple-choice accuracy, the same facts asked both ways"),
    "rag_both_directions": ("RAG answers a fact in both directions (the value given, the entity asked)", "greater", -MATCH_MARGIN, "RAG reversed − forward, multiple-choice accuracy, the same facts"),
    "hybrid_best": ("Combine both (fine-tuning + RAG) for the best results", "greater", 0.0, "best hybrid − best single method, test MC accuracy"),
    "hybrid_update": ("A hybrid is updated by re-indexing alone (no retraining)", "greater", -MATCH_MARGIN, "naive hybrid − RAG, revised facts answered after the swap"),
    "raft_robust": ("RAFT makes the hybrid robust to distractors (more retrieved chunks)", "greater", 0.0, "RAFT's change from the smallest to the largest top_k − RAG's change, gold contained"),
    "raft_beats_rag": ("RAFT reads retrieved passages better than plain RAG", "greater", 0.0, "RAFT hybrid − RAG, gold contained at the chosen top_k"),
    "full_learns": ("Full fine-tuning teaches the model new facts", "greater", 0.0, "full fine-tuning − base model, test MC accuracy"),
    "lora_learns": ("LoRA teaches the model new facts", "greater", 0.0, "LoRA − base model, test MC accuracy"),
    "ovadia_rag_beats_docs": ("For new knowledge, RAG beats fine-tuning on the documents (Ovadia et al. 2023)", "greater", 0.0, "RAG − LoRA fine-tuned on the documents, test MC accuracy"),
    "ovadia_paraphrases_help": ("Adding paraphrased questions to the documents helps fine-tuning learn the facts (Ovadia et al. 2023)", "greater", 0.0, "LoRA on documents + paraphrased QA − LoRA on documents only, test MC accuracy"),
    "paraphrase_helps": ("Paraphrased training questions help a model learn facts (Ovadia et al. 2023)", "greater", 0.0, "all training wordings − one wording, test MC accuracy"),
    "paraphrase_helps_same_steps": ("Paraphrases help beyond more training: all wordings vs one wording for as many steps", "greater", 0.0, "all training wordings − one wording at the same number of steps, test MC accuracy"),
}
