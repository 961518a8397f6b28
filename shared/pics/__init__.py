"""PicShapes (pics): image generation sold by quality tier."""
