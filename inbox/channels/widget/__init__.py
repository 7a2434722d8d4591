"""The website widget: a chat on the shop's own pages (one ``<script>`` tag), served by inbox itself."""
