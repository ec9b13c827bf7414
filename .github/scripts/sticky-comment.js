// Post `body` on the pull request as one comment of this workflow, found again by a hidden
// marker: updated in place on every push, never a second copy. Run by actions/github-script
// (pr.yml) with its `github` client and `context`; tests/test_workflows.py runs it in node
// against a recording stand-in of the GitHub API.
'use strict';

const MARKER = '<!-- image-release:plan -->';

module.exports = async ({ github, context, body }) => {
  const { owner, repo } = context.repo;
  const issue_number = context.issue.number;
  const text = `${MARKER}\n${body}`;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number, per_page: 100,
  });
  const ours = comments.find(
    (c) => c.user && c.user.type === 'Bot' && (c.body || '').startsWith(MARKER),
  );
  if (ours) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: ours.id, body: text });
    return { action: 'updated', id: ours.id };
  }
  const made = await github.rest.issues.createComment({ owner, repo, issue_number, body: text });
  return { action: 'created', id: made.data.id };
};

module.exports.MARKER = MARKER;
