# One module per area; import each here so Django finds the models.
