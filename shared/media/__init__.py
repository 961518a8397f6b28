"""Killa Tamata: the prepaid $ credit gateway's services (packages, top-ups, sign-in,
affiliates). The HTTP doorways are in functions/media/."""
