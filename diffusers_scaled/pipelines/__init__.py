"""Ready scaled pipelines, one class per module file (each file can be handed to diffusers as a `custom_pipeline`)."""

from .pipeline_scaled_flux import ScaledFluxPipeline
from .pipeline_scaled_flux_img2img import ScaledFluxImg2ImgPipeline
from .pipeline_scaled_ltx import ScaledLTXPipeline
from .pipeline_scaled_ltx_image2video import ScaledLTXImageToVideoPipeline
from .pipeline_scaled_stable_diffusion import ScaledStableDiffusionPipeline
from .pipeline_scaled_stable_diffusion_3 import ScaledStableDiffusion3Pipeline
from .pipeline_scaled_stable_diffusion_3_img2img import ScaledStableDiffusion3Img2ImgPipeline
from .pipeline_scaled_stable_diffusion_img2img import ScaledStableDiffusionImg2ImgPipeline
from .pipeline_scaled_stable_diffusion_inpaint import ScaledStableDiffusionInpaintPipeline
from .pipeline_scaled_stable_diffusion_xl import ScaledStableDiffusionXLPipeline
from .pipeline_scaled_stable_diffusion_xl_img2img import ScaledStableDiffusionXLImg2ImgPipeline
from .pipeline_scaled_stable_diffusion_xl_inpaint import ScaledStableDiffusionXLInpaintPipeline
from .pipeline_scaled_wan import ScaledWanPipeline
from .pipeline_scaled_wan_i2v import ScaledWanImageToVideoPipeline


__all__ = [
    "ScaledStableDiffusionPipeline",
    "ScaledStableDiffusionImg2ImgPipeline",
    "ScaledStableDiffusionInpaintPipeline",
    "ScaledStableDiffusionXLPipeline",
    "ScaledStableDiffusionXLImg2ImgPipeline",
    "ScaledStableDiffusionXLInpaintPipeline",
    "ScaledStableDiffusion3Pipeline",
    "ScaledStableDiffusion3Img2ImgPipeline",
    "ScaledFluxPipeline",
    "ScaledFluxImg2ImgPipeline",
    "ScaledWanPipeline",
    "ScaledWanImageToVideoPipeline",
    "ScaledLTXPipeline",
    "ScaledLTXImageToVideoPipeline",
]
