package router

import "runtime"

func runtimeGosched() { runtime.Gosched() }
