"""GeNIe (generative hard negatives), GeNIe-Ada and the few-shot augmentation baselines."""

from ucdbench import hookimpl

_MODULE = "ucdbench_plugins.methods.genie.method"


@hookimpl
def ucdbench_register_methods(register):
    register("genie", f"{_MODULE}:GeNIeMethod",
             summary="GeNIe: other classes' shots noised to ratio r and denoised towards each class: hard negatives")
    register("genie-ada", f"{_MODULE}:GeNIeAdaMethod",
             summary="GeNIe-Ada: GeNIe with r per source image after the largest jump towards the target prototype")
    register("fewshot-none", f"{_MODULE}:FewShotNone", summary="few-shot baseline: the K shots, no augmentation")
    register("img2img", f"{_MODULE}:Img2ImgMethod", summary="few-shot baseline: each shot edited towards its own class")
    register("txt2img", f"{_MODULE}:Txt2ImgMethod", summary="few-shot baseline: images of each class from pure noise")
    register("mixup", f"{_MODULE}:MixUpMethod", summary="few-shot baseline: MixUp of shuffled shots, soft labels")
    register("cutmix", f"{_MODULE}:CutMixMethod", summary="few-shot baseline: CutMix of shuffled shots, soft labels")
