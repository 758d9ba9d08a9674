"""``lora``: low-rank adapters through Hugging Face PEFT; the artifact is the adapter."""

from ucdbench import hookimpl


@hookimpl
def ucdbench_register_methods(register):
    register("lora", "ucdbench_plugins.methods.lora.method:LoRA",
             summary="LoRA adapters (HF PEFT) on the pretrained base; stores A, B and the task head")
