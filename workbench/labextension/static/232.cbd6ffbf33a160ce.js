"use strict";(self.rspackChunkjupyterlab_workbench=self.rspackChunkjupyterlab_workbench||[]).push([[232],{475(o,r,e){var n=e(601),t=e.n(n),a=e(314),p=(e.n(a))()(t());p.push([o.id,`/* Workbench side panel, task graph and cell labels. Theme colours come from JupyterLab's variables. */

.jp-Workbench {
  display: flex;
  flex-direction: column;
  min-width: 240px;
  overflow: auto;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-Workbench-head {
  padding: 8px 12px 4px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-Workbench-title {
  font-size: var(--jp-ui-font-size2);
  font-weight: 600;
  text-transform: uppercase;
  letter-spacing: 0.04em;
}

.jp-Workbench-subtitle {
  display: flex;
  justify-content: space-between;
  gap: 8px;
  color: var(--jp-ui-font-color2);
}

.jp-Workbench-path {
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-Workbench-planstate.jp-mod-error {
  color: var(--jp-error-color1);
}

.jp-Workbench-body {
  padding: 4px 12px 12px;
}

.jp-Workbench-section h3 {
  font-size: var(--jp-ui-font-size1);
  font-weight: 600;
  margin: 12px 0 6px;
  color: var(--jp-ui-font-color1);
}

.jp-Workbench-note,
.jp-Workbench-dim,
.jp-Workbench-empty {
  color: var(--jp-ui-font-color2);
}

.jp-Workbench-note {
  font-size: var(--jp-ui-font-size0);
  margin: 4px 0;
}

.jp-Workbench-error {
  margin: 8px 0;
  padding: 8px;
  border-left: 4px solid var(--jp-error-color1);
  background: var(--jp-error-color3);
  color: var(--jp-ui-font-color1);
  border-radius: 2px;
  overflow-wrap: anywhere;
}

.jp-Workbench-error.jp-mod-linked {
  cursor: pointer;
}

.jp-Workbench-error.jp-mod-linked:hover {
  filter: brightness(0.97);
}

.jp-Workbench-error-kind {
  font-weight: 600;
  color: var(--jp-error-color1);
}

.jp-Workbench-error-hint {
  margin-top: 4px;
  color: var(--jp-ui-font-color2);
}

.jp-Workbench-error-detail {
  white-space: pre-wrap;
  font-size: var(--jp-code-font-size);
  max-height: 12em;
  overflow: auto;
}

.jp-Workbench-celllink {
  color: var(--jp-content-link-color);
  text-decoration: none;
  cursor: pointer;
}

.jp-Workbench-celllink:hover {
  text-decoration: underline;
}

.jp-Workbench-warnings ul {
  margin: 0;
  padding-left: 16px;
}

.jp-Workbench-warning {
  margin-bottom: 4px;
  color: var(--jp-warn-color0);
}

.jp-Workbench-warning code {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-code-font-size);
}

/* ---- graph ---- */

.jp-Workbench-graphbox {
  display: flex;
  justify-content: center;
}

.jp-Workbench-graphbox.jp-mod-stale {
  opacity: 0.5;
}

.jp-Workbench-graph {
  font-family: var(--jp-ui-font-family);
}

.jp-Workbench-node {
  cursor: pointer;
  outline: none;
}

.jp-Workbench-node rect {
  fill: var(--jp-layout-color2);
  stroke: var(--jp-workbench-color, var(--jp-border-color1));
  stroke-width: 2;
}

.jp-Workbench-node:hover rect,
.jp-Workbench-node:focus rect {
  fill: var(--jp-layout-color3);
}

.jp-Workbench-node-name {
  fill: var(--jp-ui-font-color1);
  font-size: 12px;
  font-weight: 600;
}

.jp-Workbench-node-badges {
  fill: var(--jp-ui-font-color2);
  font-size: 9px;
}

.jp-Workbench-node-dot {
  fill: var(--jp-ui-font-color3);
}

.jp-Workbench-node.jp-Workbench-status-running .jp-Workbench-node-dot {
  fill: var(--jp-brand-color1);
  animation: jp-Workbench-pulse 1s ease-in-out infinite;
}

.jp-Workbench-node.jp-Workbench-status-done rect,
.jp-Workbench-node.jp-Workbench-status-up-to-date rect {
  fill: var(--jp-success-color3, #d4edda);
}

.jp-Workbench-node.jp-Workbench-status-done .jp-Workbench-node-dot {
  fill: var(--jp-success-color1);
}

.jp-Workbench-node.jp-Workbench-status-up-to-date .jp-Workbench-node-dot {
  fill: var(--jp-info-color1);
}

.jp-Workbench-node.jp-Workbench-status-failed rect {
  fill: var(--jp-error-color3);
}

.jp-Workbench-node.jp-Workbench-status-failed .jp-Workbench-node-dot {
  fill: var(--jp-error-color1);
}

@keyframes jp-Workbench-pulse {
  50% {
    opacity: 0.3;
  }
}

.jp-Workbench-edge {
  cursor: pointer;
  outline: none;
}

.jp-Workbench-edge-line {
  fill: none;
  stroke: var(--jp-ui-font-color3);
  stroke-width: 1.5;
}

.jp-Workbench-edge-after .jp-Workbench-edge-line {
  stroke-dasharray: 4 3;
}

.jp-Workbench-edge-hit {
  fill: none;
  stroke: transparent;
  stroke-width: 10;
}

.jp-Workbench-edge:hover .jp-Workbench-edge-line,
.jp-Workbench-edge:focus .jp-Workbench-edge-line {
  stroke: var(--jp-brand-color1);
  stroke-width: 2.5;
}

.jp-Workbench-arrowhead {
  fill: var(--jp-ui-font-color3);
}

.jp-Workbench-edge-labelbg {
  fill: var(--jp-layout-color1);
  stroke: var(--jp-border-color2);
  stroke-width: 0.5;
}

.jp-Workbench-edge-label {
  fill: var(--jp-ui-font-color2);
  font-family: var(--jp-code-font-family);
  font-size: 10px;
}

.jp-Workbench-edge:hover .jp-Workbench-edge-label {
  fill: var(--jp-brand-color1);
}

/* ---- task colours (graph nodes, task list, cell labels) ---- */

.jp-Workbench-color-0 { --jp-workbench-color: #1f77b4; }
.jp-Workbench-color-1 { --jp-workbench-color: #ff7f0e; }
.jp-Workbench-color-2 { --jp-workbench-color: #2ca02c; }
.jp-Workbench-color-3 { --jp-workbench-color: #9467bd; }
.jp-Workbench-color-4 { --jp-workbench-color: #8c564b; }
.jp-Workbench-color-5 { --jp-workbench-color: #e377c2; }
.jp-Workbench-color-6 { --jp-workbench-color: #17becf; }
.jp-Workbench-color-7 { --jp-workbench-color: #bcbd22; }

/* ---- tables, tasks, actions ---- */

.jp-Workbench-table {
  border-collapse: collapse;
  width: 100%;
}

.jp-Workbench-table td,
.jp-Workbench-table th {
  padding: 2px 6px 2px 0;
  text-align: left;
  vertical-align: top;
}

.jp-Workbench-table th {
  font-weight: 600;
  color: var(--jp-ui-font-color2);
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-Workbench-param {
  width: 100%;
  box-sizing: border-box;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.jp-Workbench-param.jp-mod-changed {
  border-color: var(--jp-brand-color1);
  background: var(--jp-layout-color2);
}

.jp-Workbench-tasks {
  list-style: none;
  margin: 0;
  padding: 0;
}

.jp-Workbench-task {
  border-left: 3px solid var(--jp-workbench-color, var(--jp-border-color1));
  padding: 2px 0 4px 8px;
  margin-bottom: 6px;
}

.jp-Workbench-task-head {
  font-weight: 600;
}

.jp-Workbench-products {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  font-weight: normal;
}

.jp-Workbench-size {
  text-align: right;
  white-space: nowrap;
}

.jp-Workbench-badge {
  display: inline-block;
  margin-left: 6px;
  padding: 0 4px;
  border-radius: 3px;
  font-size: var(--jp-ui-font-size0);
  font-weight: normal;
  background: var(--jp-layout-color3);
}

.jp-Workbench-badge.jp-Workbench-status-done {
  background: var(--jp-success-color1);
  color: white;
}

.jp-Workbench-badge.jp-Workbench-status-up-to-date {
  background: var(--jp-info-color1);
  color: white;
}

.jp-Workbench-badge.jp-Workbench-status-failed {
  background: var(--jp-error-color1);
  color: white;
}

.jp-Workbench-badge.jp-Workbench-status-running {
  background: var(--jp-brand-color1);
  color: white;
}

.jp-Workbench-buttons {
  display: flex;
  flex-wrap: wrap;
  gap: 6px;
}

.jp-Workbench-buttons .jp-Button {
  min-width: 64px;
}

.jp-Workbench-buttons .jp-Button:disabled {
  opacity: 0.45;
  cursor: not-allowed;
}

.jp-Workbench-edgeinfo {
  white-space: pre-wrap;
  min-height: 3em;
}

.jp-Workbench-edgeinfo.jp-mod-active {
  color: var(--jp-ui-font-color1);
  font-family: var(--jp-code-font-family);
}

.jp-Workbench-jobtable td {
  white-space: nowrap;
}

.jp-Workbench-forcelabel {
  display: block;
  margin-top: 4px;
  color: var(--jp-ui-font-color2);
}

.jp-Workbench-exported {
  margin-top: 6px;
  color: var(--jp-success-color1);
  overflow-wrap: anywhere;
}

.jp-Workbench-jobstatus {
  font-weight: 600;
  margin-bottom: 4px;
}

.jp-Workbench-jobstatus.jp-Workbench-status-succeeded {
  color: var(--jp-success-color1);
}

.jp-Workbench-jobstatus.jp-Workbench-status-cancelled,
.jp-Workbench-jobstatus.jp-Workbench-status-failed,
.jp-Workbench-jobstatus.jp-Workbench-status-error {
  color: var(--jp-error-color1);
}

.jp-Workbench-jobtask.jp-Workbench-status-done .jp-Workbench-taskstatus,
.jp-Workbench-jobtask.jp-Workbench-status-up-to-date .jp-Workbench-taskstatus {
  color: var(--jp-success-color1);
}

.jp-Workbench-jobtask.jp-Workbench-status-failed .jp-Workbench-taskstatus {
  color: var(--jp-error-color1);
}

.jp-Workbench-jobtask.jp-Workbench-status-running .jp-Workbench-taskstatus {
  color: var(--jp-brand-color1);
}

.jp-Workbench-verifytable {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  margin-top: 6px;
}

.jp-Workbench-verify-different td {
  color: var(--jp-error-color1);
}

.jp-Workbench-verifysummary {
  margin-top: 4px;
  overflow-wrap: anywhere;
}

.jp-Workbench-verifytable td {
  overflow-wrap: break-word; /* names keep their width; the detail column gives way */
}

/* verify's detail comes whole (never cut): it wraps, keeping its own line breaks */
.jp-Workbench-verifytable .jp-Workbench-verifydetail {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.jp-Workbench-packaged {
  margin-top: 6px;
  overflow-wrap: anywhere;
}

.jp-Workbench-packagefiles {
  margin: 2px 0 0;
  padding-left: 1.5em;
}

.jp-Workbench-section pre {
  white-space: pre-wrap;
  max-height: 16em;
  overflow: auto;
  font-size: var(--jp-code-font-size);
  background: var(--jp-layout-color2);
  padding: 4px;
}

.jp-Workbench-refreshruns {
  padding: 0 4px;
  min-width: 0;
}

/* ---- the label beside each cell ---- */

.jp-Notebook .jp-Cell.jp-Workbench-labelled {
  position: relative;
}

.jp-Notebook .jp-Cell.jp-Workbench-labelled::after {
  content: attr(data-workbench-label);
  position: absolute;
  right: 10px;
  bottom: 2px;
  z-index: 2;
  max-width: 40%;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  padding: 0 5px;
  border-radius: 3px;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size0);
  line-height: 1.5;
  color: var(--jp-ui-font-color2);
  background: var(--jp-layout-color2);
  border: var(--jp-border-width) solid var(--jp-workbench-color, var(--jp-border-color2));
  pointer-events: none;
  opacity: 0.9;
}

.jp-Notebook .jp-Cell.jp-mod-active.jp-Workbench-labelled:has(.jp-cell-toolbar)::after {
  /* clear of the cell toolbar JupyterLab shows on the active cell */
  right: 230px;
}

.jp-Notebook .jp-Cell.jp-Workbench-taskstart::after {
  color: var(--jp-ui-inverse-font-color1);
  background: var(--jp-workbench-color, var(--jp-brand-color1));
  font-weight: 600;
}

.jp-Notebook .jp-Cell.jp-Workbench-labelled[data-workbench-role='task'] .jp-Cell-inputWrapper {
  box-shadow: inset 3px 0 0 var(--jp-workbench-color, transparent);
}

.jp-Notebook .jp-Cell.jp-Workbench-labelled[data-workbench-role='skip'] .jp-Cell-inputWrapper {
  opacity: 0.6;
}

.jp-Notebook .jp-Cell.jp-Workbench-errorcell::after {
  color: var(--jp-ui-inverse-font-color1);
  background: var(--jp-error-color1);
  border-color: var(--jp-error-color1);
  font-weight: 600;
}

.jp-Notebook .jp-Cell.jp-Workbench-errorcell .jp-Cell-inputWrapper {
  box-shadow: inset 3px 0 0 var(--jp-error-color1);
}
`,""]),e.d(r,{},{A:p})},314(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var e="",n=void 0!==r[5];return r[4]&&(e+="@supports (".concat(r[4],") {")),r[2]&&(e+="@media ".concat(r[2]," {")),n&&(e+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),e+=o(r),n&&(e+="}"),r[2]&&(e+="}"),r[4]&&(e+="}"),e}).join("")},r.i=function(o,e,n,t,a){"string"==typeof o&&(o=[[null,o,void 0]]);var p={};if(n)for(var c=0;c<this.length;c++){var l=this[c][0];null!=l&&(p[l]=!0)}for(var i=0;i<o.length;i++){var s=[].concat(o[i]);n&&p[s[0]]||(void 0!==a&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=a),e&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=e),t&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=t):s[4]="".concat(t)),r.push(s))}},r}},601(o){o.exports=function(o){return o[1]}},72(o){var r=[];function e(o){for(var e=-1,n=0;n<r.length;n++)if(r[n].identifier===o){e=n;break}return e}function n(o,n){for(var t={},a=[],p=0;p<o.length;p++){var c=o[p],l=n.base?c[0]+n.base:c[0],i=t[l]||0,s="".concat(l," ").concat(i);t[l]=i+1;var b=e(s),h={css:c[1],media:c[2],sourceMap:c[3],supports:c[4],layer:c[5]};if(-1!==b)r[b].references++,r[b].updater(h);else{var j=function(o,r){var e=r.domAPI(r);return e.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&e.update(o=r):e.remove()}}(h,n);n.byIndex=p,r.splice(p,0,{identifier:s,updater:j,references:1})}a.push(s)}return a}o.exports=function(o,t){var a=n(o=o||[],t=t||{});return function(o){o=o||[];for(var p=0;p<a.length;p++){var c=e(a[p]);r[c].references--}for(var l=n(o,t),i=0;i<a.length;i++){var s=e(a[i]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}a=l}}},659(o){var r={};o.exports=function(o,e){var n=function(o){if(void 0===r[o]){var e=document.querySelector(o);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(o){e=null}r[o]=e}return r[o]}(o);if(!n)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");n.appendChild(e)}},540(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},56(o,r,e){o.exports=function(o){var r=e.nc;r&&o.setAttribute("nonce",r)}},825(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(e){var n,t,a;n="",e.supports&&(n+="@supports (".concat(e.supports,") {")),e.media&&(n+="@media ".concat(e.media," {")),(t=void 0!==e.layer)&&(n+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),n+=e.css,t&&(n+="}"),e.media&&(n+="}"),e.supports&&(n+="}"),(a=e.sourceMap)&&"u">typeof btoa&&(n+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),o.styleTagTransform(n,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},113(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}},579(o,r,e){var n=e(72),t=e.n(n),a=e(825),p=e.n(a),c=e(659),l=e.n(c),i=e(56),s=e.n(i),b=e(540),h=e.n(b),j=e(113),d=e.n(j),k=e(475),f={};f.styleTagTransform=d(),f.setAttributes=s(),f.insert=l().bind(null,"head"),f.domAPI=p(),f.insertStyleElement=h(),t()(k.A,f),k.A&&k.A.locals&&k.A.locals}}]);