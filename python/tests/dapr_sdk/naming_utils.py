# Copied by bindery from dapr/python-sdk, commit e4ad1818079c5089814e4d1610b585286d28b98f,
# file tests/naming_utils.py (Apache License 2.0), unchanged.
# -*- coding: utf-8 -*-

"""
Copyright 2026 The Dapr Authors
Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at
    http://www.apache.org/licenses/LICENSE-2.0
Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""

import uuid


def unique_name(*, prefix: str = '', suffix: str = '') -> str:
    return f'{prefix}{uuid.uuid4().hex[:8]}{suffix}'
