SIBLING = "imported from the function's own folder"
