"""A tiny random `ShapEImg2ImgPipeline`: the local stand-in for TRELLIS (see handler.py).

Same classes as openai/shap-e-img2img (LOCAL_REPO in handler.py): PriorTransformer,
CLIPVisionModel + CLIPImageProcessor, ShapERenderer, HeunDiscreteScheduler; sizes are
diffusers' own fast-test sizes, except the image processor, which resizes to the tiny
encoder's 32 px so that a real PIL image goes through the same preprocessing as production.
Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 32
LATENT_DIM = 16
RENDERER_DIM = 8


def build(seed: int = 0):
    import torch
    from diffusers import HeunDiscreteScheduler, PriorTransformer, ShapEImg2ImgPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=16,
            image_size=IMAGE_SIZE,
            projection_dim=16,
            intermediate_size=24,
            num_attention_heads=2,
            num_channels=3,
            num_hidden_layers=2,
            patch_size=4,
        )
    )
    image_processor = CLIPImageProcessor(
        crop_size=IMAGE_SIZE,
        do_center_crop=True,
        do_normalize=True,
        do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
        size=IMAGE_SIZE,
    )
    torch.manual_seed(seed + 1)
    prior = PriorTransformer(
        num_attention_heads=2,
        attention_head_dim=16,
        embedding_dim=LATENT_DIM,
        num_embeddings=32,
        embedding_proj_dim=16,
        time_embed_dim=LATENT_DIM * 4,
        num_layers=1,
        clip_embed_dim=LATENT_DIM * 2,
        additional_embeddings=0,
        time_embed_act_fn="gelu",
        norm_in_type="layer",
        embedding_proj_norm_type="layer",
        encoder_hid_proj_type=None,
        added_emb_type=None,
    )
    torch.manual_seed(seed + 2)
    renderer = ShapERenderer(
        param_shapes=((RENDERER_DIM, 93), (RENDERER_DIM, 8), (RENDERER_DIM, 8), (RENDERER_DIM, 8)),
        d_latent=LATENT_DIM,
        d_hidden=RENDERER_DIM,
        n_output=12,
        background=(0.1, 0.1, 0.1),
    )
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp",
        num_train_timesteps=1024,
        prediction_type="sample",
        use_karras_sigmas=True,
        clip_sample=True,
        clip_sample_range=1.0,
    )
    return ShapEImg2ImgPipeline(
        prior=prior,
        image_encoder=image_encoder,
        image_processor=image_processor,
        shap_e_renderer=renderer,
        scheduler=scheduler,
    )


def save(out_dir: Path, seed: int) -> dict[str, object]:
    build(seed).save_pretrained(out_dir)
    return {"pipeline": "ShapEImg2ImgPipeline", "standsInFor": "TRELLIS"}
