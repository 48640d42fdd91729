"""The method contract and the types a method meets (importing this is cheap: no numpy, no torch).

```python
from partbench.api import MethodInfo, Param
from partbench.registry import register_method

register_method(MethodInfo(name="my-method", factory="my_package.method:MyMethod", params=(Param("k", int, 3),)))
```
See docs/adding-a-method.md.
"""

from partbench.api.method import MethodHooks, MethodInfo, Param, Sweep, check_method_args, close_method, method_options

__all__ = ["MethodHooks", "MethodInfo", "Param", "Sweep", "check_method_args", "close_method", "method_options"]
