"""GPU sharing: the device model (free share of every GPU on every node), GPU requests in
Kubernetes terms, fragmentation (FGD) and the placement policies the gpu-frag benchmark compares.
See request.py for how pods and nodes express GPUs."""
