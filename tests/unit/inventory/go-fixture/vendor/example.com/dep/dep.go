package dep

func Hello() string { return "hi" }
