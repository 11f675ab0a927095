"""`kme eval`: how well edits take, generalize, stay local and carry to their consequences."""
