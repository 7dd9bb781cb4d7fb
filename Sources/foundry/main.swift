print("foundry")
