"""The momentum-encoder machinery BYOL, MSF and the CMSF variants share (one implementation):
online and EMA target networks with the official heads (:mod:`.networks`), the memory bank of
target embeddings (:mod:`.bank`), the neighbour constraints (:mod:`.constraints`), k-means for
CMSF-KM (:mod:`.kmeans`) and the training loop (:mod:`.training`)."""
