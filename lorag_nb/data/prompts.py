"""Prompt formatting shared by training and evaluation: closed-book and with-context (RAG) prompts.

Every prompt goes through the tokenizer's own chat template (``apply_chat_template`` with
``add_generation_prompt=True``), so a fine-tuned model sees at test time exactly the text it was
trained on. A model without a chat template gets a plain ``Question: … Answer:`` format.

The with-context prompt is written for a 135M model: the passages first, the question last, then a
brief instruction. Variants live in :data:`CONTEXT_VARIANTS`
so the RAG notebook can compare them on the dev split and keep the best.
"""
from __future__ import annotations

from typing import Sequence

#: Appended to every question. A 135M model told "short phrase" in a custom system prompt drifts
#: (it answered "What is the capital of France?" in French); its own default system prompt plus a
#: brief instruction in the user turn answers best (measured on the control set).
ANSWER_INSTRUCTION = "Answer in a few words."

#: name -> user-message template with {context}, {question}, {instruction}.
CONTEXT_VARIANTS: dict[str, str] = {
    "context_then_question": "{context}\n\n{question}\n{instruction}",
    "labeled": "Context:\n{context}\n\nQuestion: {question}\n{instruction}",
    "use_the_context": "Use only this context to answer.\n\n{context}\n\nQuestion: {question}\nShort answer copied from the context:",
}
DEFAULT_CONTEXT_VARIANT = "context_then_question"


def has_chat_template(tokenizer) -> bool:
    """True if the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def _render(tokenizer, user: str) -> str:
    """One user turn through the chat template (the model's default system prompt), generation open."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
    return f"{user}\nAnswer:"


def format_context(contexts: Sequence[str]) -> str:
    """Join passages into one block, one paragraph each (numbering them made the 135M model answer "[1]")."""
    return "\n\n".join(c.strip() for c in contexts)


def closed_book_prompt(tokenizer, question: str) -> str:
    """The prompt string (chat template applied, generation prompt open) for a closed-book question."""
    return _render(tokenizer, f"{question.strip()}\n{ANSWER_INSTRUCTION}")


def context_prompt(tokenizer, question: str, contexts: Sequence[str], variant: str = DEFAULT_CONTEXT_VARIANT) -> str:
    """The prompt string for a question answered from ``contexts`` (retrieved or oracle passages).

    Raises:
        ValueError: ``variant`` is not a key of :data:`CONTEXT_VARIANTS`.
    """
    if variant not in CONTEXT_VARIANTS:
        raise ValueError(f"variant={variant!r} is not a prompt variant; valid: {sorted(CONTEXT_VARIANTS)}")
    user = CONTEXT_VARIANTS[variant].format(context=format_context(contexts), question=question.strip(), instruction=ANSWER_INSTRUCTION)
    return _render(tokenizer, user)


def make_prompt(tokenizer, question: str, contexts: Sequence[str] | None = None, variant: str = DEFAULT_CONTEXT_VARIANT) -> str:
    """Closed-book prompt if ``contexts`` is None, else the with-context prompt."""
    if contexts is None:
        return closed_book_prompt(tokenizer, question)
    return context_prompt(tokenizer, question, contexts, variant)


def end_of_turn(tokenizer) -> str:
    """The text that ends an assistant turn: ``<|im_end|>`` for ChatML templates, else the EOS token."""
    if has_chat_template(tokenizer):
        # a token lookup, not ``"<|im_end|>" in tokenizer.get_vocab()``: that builds the whole vocabulary (49k
        # entries, ~30 ms) on every call, and this runs once per prompt
        tid = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if tid is not None and tid != tokenizer.unk_token_id:
            return "<|im_end|>"
    return tokenizer.eos_token or ""


def completion(tokenizer, answer: str) -> str:
    """The training target after a prompt: the answer followed by the end-of-turn marker.

    Training masks the prompt tokens, not the end-of-turn token, so the model learns to stop.
    """
    return answer.strip() + end_of_turn(tokenizer)

#: Added by the RAG work (notebook 03): the question both before and after the passages ("query
#: sandwich"), a candidate for small models that lose the question behind long passages. Notebook 03
#: measures every variant on the dev split and keeps the best (``rag.compare_prompt_variants``).
CONTEXT_VARIANTS["question_sandwich"] = "Question: {question}\n\nUse this context to answer.\n{context}\n\nQuestion: {question}\n{instruction}"
