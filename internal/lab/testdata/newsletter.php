<?php
// A customer's script on the web host: one newsletter through PHP's mail().
// With mail.add_x_header=On PHP adds X-PHP-Originating-Script, which
// mxwatch turns into the finding's script attribution.
$ok = mail('reader@dest-b.test', 'Lab newsletter', "Hello from the mxwatch lab.\n", "From: shop@web.platform.test");
exit($ok ? 0 : 1);
