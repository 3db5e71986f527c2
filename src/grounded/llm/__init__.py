"""The LLM gateway: provider adapters and the wrappers composed around them.

    providers   openai_compat.py, anthropic.py, llamacpp.py, extractive.py
    wrappers    retry.py (backoff, deadlines), circuit.py, fallback.py, cache.py,
                meter.py (usage, cost, latency, counters; concurrency limit)
    routing     router.py (task, prompt size, capabilities → route)
    structure   structured.py (JSON Schema output: validate, repair once, raise)
    assembly    gateway.py (config → the composed stack; the one entry point)

Every piece implements `grounded.ports.ChatModel`.
"""
