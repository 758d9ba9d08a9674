"""Classification on a user's local dataset with a timm model: the machinery the ``imagenet``
and ``video`` tasks share (reading the folders, the transforms, the two views of
representation learning, the labels)."""
