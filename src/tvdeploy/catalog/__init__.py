"""Stage catalog: which torchvision models exist and what their weights declare (the model
sheet, torch-free), the weights themselves (download, verify, random) and building a model."""
