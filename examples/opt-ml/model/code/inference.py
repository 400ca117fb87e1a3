import os
import torch


def model_fn(model_dir):
    model = torch.jit.load(os.path.join(model_dir, "model.pth"))
    return model.eval()
