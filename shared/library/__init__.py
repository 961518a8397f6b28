"""Model Manager (site `library`): the catalogue of the model files GPU handlers load.

Files live under a models root in Cloud Storage; a scan indexes each one into Firestore
(`records`), the API lists and serves them (`catalog`, `downloads`), users add notes and
images that survive rescans (`notes`, `user_images`), and one library key (`keys`) or a
browser session (`sessions`) opens it.
"""
