import os

# Saves to SM_MODEL_DIR; the Trainer also left a checkpoint there.
print(os.environ["SM_MODEL_DIR"])
