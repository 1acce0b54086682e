// progressive enhancement only: highlight the leading row
document.querySelectorAll('tbody tr:first-child').forEach(r => r.className = 'lead');
