"""The pages a director sees behind an invitation link: api/pages/director.py renders them,
api/pages/form_guard.py protects their form, api/pages/negotiation.py picks HTML or JSON and the
language, api/pages/texts.py holds their words."""
