"""The model layer: loading models and tokenizers, the offline built-ins, generation and decoding,
and the generation cache. Evaluation and training sit above it; rewards and plugins below.

- ``loading``: ``load_causal_lm``/``load_tokenizer`` for folders, hub ids and built-in names.
- ``builtin``: the offline built-ins (tiny GPT-2, SmolLM2 from its GGUF) and ``build_tiny_gpt2``.
- ``fingerprint``: content hashes of weights, for cache keys and manifests.
- ``generation``: ``GenerationSettings``, prompt rendering, batched generation with its cache.
- ``decoding``: rlit's fast sampling loop for small models (preallocated KV cache).
- ``cache``: the JSONL caches (generations, scores) and the default cache folder.
"""
