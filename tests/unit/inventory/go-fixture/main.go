// A tiny program for test_inv_lang: its build info names example.com/app (devel) and the
// vendored example.com/dep v1.2.3 (vendored so that the build needs no network).
package main

import "example.com/dep"

func main() { println(dep.Hello()) }
