# -*- coding: utf-8 -*-
""" The part of Zato's service API that flat hot-deployed modules use. """

import logging
import re

__all__ = ['Service', 'AsIs', 'Bool', 'Boolean', 'Date', 'DateTime', 'Decimal', 'Dict', 'DictList', 'Float', 'Int',
           'Integer', 'List', 'ListOfDicts', 'Opaque', 'Text', 'UUID', 'SimpleIO', 'Model']


class _Elem(str):
    """ SimpleIO type helpers (Integer('id') etc.) carry only the element's name here. """
    def __new__(cls, name, *args, **kwargs):
        return str.__new__(cls, name)


class AsIs(_Elem): pass
class Bool(_Elem): pass
class Boolean(_Elem): pass
class Date(_Elem): pass
class DateTime(_Elem): pass
class Decimal(_Elem): pass
class Dict(_Elem): pass
class DictList(_Elem): pass
class Float(_Elem): pass
class Int(_Elem): pass
class Integer(_Elem): pass
class List(_Elem): pass
class ListOfDicts(_Elem): pass
class Opaque(_Elem): pass
class Text(_Elem): pass
class UUID(_Elem): pass


class SimpleIO:
    pass


class Model:
    pass


class Bunch(dict):
    """ A dict whose keys are also attributes, as Zato's request.input and response.payload. """
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name)


class BadInput(Exception):
    status = 400


class Request:
    def __init__(self, payload, input):
        self.payload = payload
        self.input = input
        self.raw_request = payload


class Response:
    def __init__(self):
        self.payload = Bunch()
        self.status_code = 200
        self.content_type = 'application/json'
        self.headers = {}


def _names(value):
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(elem) for elem in value]


def sio_types(sio):
    """ {input name: its SimpleIO type's class name} for the inputs declared with one (Integer('age') etc.). """
    out = {}
    if sio is None:
        return out
    for attr in ('input_required', 'input_optional', 'input'):
        value = getattr(sio, attr, None)
        if not value or isinstance(value, str):
            continue
        for elem in value:
            if isinstance(elem, _Elem):
                out[str(elem).lstrip('-')] = type(elem).__name__
    return out


def sio_spec(sio):
    """ (required input, optional input, required output, optional output) of a SimpleIO class. """
    if sio is None:
        return [], [], [], []
    in_req = _names(getattr(sio, 'input_required', None))
    in_opt = _names(getattr(sio, 'input_optional', None))
    out_req = _names(getattr(sio, 'output_required', None))
    out_opt = _names(getattr(sio, 'output_optional', None))
    # Zato 3.2+: input = ('a', '-b'), where '-' marks optional
    for attr, req, opt in (('input', in_req, in_opt), ('output', out_req, out_opt)):
        for name in _names(getattr(sio, attr, None)):
            (opt if name.startswith('-') else req).append(name.lstrip('-'))
    return in_req, in_opt, out_req, out_opt


# Zato's uncamelify: a space goes before a capital that follows a lower-case letter, or that starts a lower-case
# run anywhere but at the start; the words are then lower-cased and joined with dashes.
_uncamelify = re.compile(r'((?<=[a-z])[A-Z]|(?<!\A)[A-Z](?=[a-z]))')


def derived_name(module_name, class_name):
    """ Zato's name for a service without a name attribute, derived from module.Class:
    billing_invoice.ListOverdueInvoices -> billing-invoice.list-overdue-invoices.
    The module part has its underscores turned into dashes; the class part keeps them. """
    words = _uncamelify.sub(r' \1', '{}.{}'.format(module_name, class_name)).split()
    parts = '-'.join(w.lower() for w in words).split('.')
    path = [p.replace('_', '-') for p in parts[:-1]]
    cls = parts[-1]
    if cls.startswith('-'):
        cls = cls[1:]
    cls = cls.replace('.-', '.').replace('_-', '_')
    return '{}.{}'.format('.'.join(path), cls)


class Service:
    """ Subclass it and implement handle(). """
    name = None

    # Set by the runtime for each invocation
    cid = None
    server_name = None
    request = None
    response = None
    logger = logging.getLogger('zato')
    _invoker = None
    _invoker_async = None

    @classmethod
    def get_name(cls):
        if cls.__dict__.get('name'):
            return cls.__dict__['name']
        return derived_name(cls.__module__, cls.__name__)

    def invoke(self, name, payload=None, *args, **kwargs):
        """ Invokes another service in this server and returns its response payload. """
        return self._invoker(name, payload, self.cid)

    def invoke_async(self, name, payload=None, *args, **kwargs):
        """ Invokes another service in the background and returns the CID it runs under at once; its failure is
        logged. """
        return self._invoker_async(name, payload)

    def before_handle(self):
        pass

    def handle(self):
        pass

    def after_handle(self):
        pass
