"""The large-model layer: an OpenAI-compatible client that sends no personal data, and what uses it.

``LLMClient`` (``assist.client``) talks to any OpenAI-compatible chat-completions
endpoint (``TARGETWISE_LLM_BASE_URL``; off when unset); every prompt passes the
workspace's ``Scrubber`` (``assist.scrub``) first. Natural-language audiences
(``assist.audience_text``, ``assist.audience_llm``) turn a marketer's sentence into the audience
condition language, with an embedded parser that needs no endpoint. See docs/assist.md.
"""

from __future__ import annotations

from targetwise.assist.client import CallRecord, LLMClient, chat_validated, prompt_sha256
from targetwise.assist.scrub import Scrubber, scrubber_for

__all__ = ["CallRecord", "LLMClient", "Scrubber", "chat_validated", "prompt_sha256", "scrubber_for"]
