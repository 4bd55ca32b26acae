"""Ready scaled pipelines, one class per module file (each file can be handed to diffusers as a `custom_pipeline`)."""

from .pipeline_scaled_flux import ScaledFluxPipeline
from .pipeline_scaled_flux2 import ScaledFlux2Pipeline
from .pipeline_scaled_flux_img2img import ScaledFluxImg2ImgPipeline
from .pipeline_scaled_qwenimage import ScaledQwenImagePipeline
from .pipeline_scaled_qwenimage_edit import ScaledQwenImageEditPipeline
from .pipeline_scaled_qwenimage_img2img import ScaledQwenImageImg2ImgPipeline
from .pipeline_scaled_stable_diffusion import ScaledStableDiffusionPipeline
from .pipeline_scaled_stable_diffusion_3 import ScaledStableDiffusion3Pipeline
from .pipeline_scaled_stable_diffusion_3_img2img import ScaledStableDiffusion3Img2ImgPipeline
from .pipeline_scaled_stable_diffusion_img2img import ScaledStableDiffusionImg2ImgPipeline
from .pipeline_scaled_stable_diffusion_inpaint import ScaledStableDiffusionInpaintPipeline
from .pipeline_scaled_stable_diffusion_xl import ScaledStableDiffusionXLPipeline
from .pipeline_scaled_stable_diffusion_xl_img2img import ScaledStableDiffusionXLImg2ImgPipeline
from .pipeline_scaled_stable_diffusion_xl_inpaint import ScaledStableDiffusionXLInpaintPipeline
from .pipeline_scaled_z_image import ScaledZImagePipeline
from .pipeline_scaled_z_image_img2img import ScaledZImageImg2ImgPipeline


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
    "ScaledFlux2Pipeline",
    "ScaledQwenImagePipeline",
    "ScaledQwenImageEditPipeline",
    "ScaledQwenImageImg2ImgPipeline",
    "ScaledZImagePipeline",
    "ScaledZImageImg2ImgPipeline",
]
