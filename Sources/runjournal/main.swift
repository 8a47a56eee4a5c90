print("runjournal")
